//! End-to-end encryption (issue 14): uploads stored as age v1 files, decrypted on download.
//!
//! Nothing here is home-made cryptography: the `age` crate encrypts and decrypts (its STREAM
//! construction, 64 KiB chunks, each authenticated), and its X25519 identities are drawn
//! from the operating system's CSPRNG.
//!
//! - `--encrypt`: each file gets a fresh X25519 identity; its `AGE-SECRET-KEY-1…` string
//!   travels in the link's fragment (`#key=…&name=…`), which HTTP clients never send. The
//!   stored object decrypts with stock age: `age -d -i <(echo AGE-SECRET-KEY-1…)`.
//! - `--to`/`--to-file`: age X25519 or SSH public keys; the fragment holds only the name.
//! - The service stores the neutral name [`STORED_NAME`]; the original name travels in the
//!   fragment, not inside the encrypted stream, so that stock age gives back the file itself.
//!
//! Both directions stream: [`Sealed`] encrypts as its source's bytes flow; [`open`]
//! decrypts as the download's body is polled. Plaintext leaves [`open`] only
//! chunk by chunk as each chunk verified, and its stream ends only once the whole age file
//! verified, so a part file moved into place after the stream ended holds verified bytes.

use std::io::Write;
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;

use age::secrecy::ExposeSecret;
use anyhow::Result;
use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};

use crate::body::{ByteStream, Source};
use crate::error::{Failure, Kind};
use crate::secret::Secret;

/// The name every encrypted upload is stored under: the host learns nothing from it.
pub const STORED_NAME: &str = "file.age";

/// The first line of every age v1 file.
pub const MAGIC: &[u8] = b"age-encryption.org/v1";

/// age's plaintext chunk size (STREAM), and its tag size.
const CHUNK: u64 = 64 * 1024;
const TAG: u64 = 16;

/// A recipient the uploads are encrypted to.
pub type Recipient = Box<dyn age::Recipient + Send + Sync>;
/// An identity a download is decrypted with.
pub type Identity = Box<dyn age::Identity + Send + Sync>;

/// How this run's uploads are encrypted.
pub enum Sealing {
    /// A fresh X25519 identity per file, its secret in the link's fragment.
    Fresh,
    /// These public keys; no secret in the link.
    To(Arc<Vec<Recipient>>),
}

/// One file's encryption: its recipients and, for `--encrypt`, the secret for the link.
pub struct Seal {
    recipients: Arc<Vec<Recipient>>,
    key: Option<Secret>,
}

impl Sealing {
    /// The recipients of `--to` and `--to-file` (one per line, `#` comments, as age's `-R`
    /// reads them); `None` when neither was given.
    pub fn recipients(to: &[String], files: &[std::path::PathBuf]) -> Result<Option<Sealing>> {
        let mut all: Vec<Recipient> = Vec::new();
        for r in to {
            all.push(parse_recipient(r, "--to")?);
        }
        for f in files {
            let text = std::fs::read_to_string(f).map_err(|e| {
                Failure::new(
                    Kind::LocalFile,
                    format!("cannot read recipients file {}: {e}", f.display()),
                )
            })?;
            let mut any = false;
            for (i, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                any = true;
                all.push(parse_recipient(
                    line,
                    &format!("{} line {}", f.display(), i + 1),
                )?);
            }
            if !any {
                return Err(Failure::new(
                    Kind::Usage,
                    format!("recipients file {} names no recipient", f.display()),
                )
                .into());
            }
        }
        Ok((!all.is_empty()).then(|| Sealing::To(Arc::new(all))))
    }

    /// How this run encrypts: `--encrypt` (or the config's `encrypt = true`), or `--to` and
    /// `--to-file`, or not at all.
    pub fn choose(
        encrypt: bool,
        to: &[String],
        to_files: &[std::path::PathBuf],
    ) -> Result<Option<Sealing>> {
        match Sealing::recipients(to, to_files)? {
            Some(s) => Ok(Some(s)),
            None if encrypt => Ok(Some(Sealing::Fresh)),
            None => Ok(None),
        }
    }

    /// One file's seal: for [`Sealing::Fresh`] a new identity of its own.
    pub fn seal(&self) -> Seal {
        match self {
            Sealing::Fresh => {
                let id = age::x25519::Identity::generate();
                let recipient: Recipient = Box::new(id.to_public());
                Seal {
                    recipients: Arc::new(vec![recipient]),
                    key: Some(Secret::new(id.to_string().expose_secret())),
                }
            }
            Sealing::To(r) => Seal {
                recipients: r.clone(),
                key: None,
            },
        }
    }
}

fn parse_recipient(text: &str, from: &str) -> Result<Recipient> {
    if let Ok(r) = age::x25519::Recipient::from_str(text) {
        return Ok(Box::new(r));
    }
    if let Ok(r) = age::ssh::Recipient::from_str(text) {
        return Ok(Box::new(r));
    }
    let shown: String = crate::terminal_text::inert(text).chars().take(40).collect();
    Err(Failure::new(
        Kind::Usage,
        format!("{from}: '{shown}' is not an age recipient (age1…) or an SSH public key (ssh-ed25519, ssh-rsa)"),
    )
    .hint("make a key pair with age-keygen, and give its public key (age1…)")
    .into())
}

impl Seal {
    /// `source`, encrypted as it is read.
    pub fn wrap(self, source: Box<dyn Source>) -> Result<Sealed> {
        let first = prepare(&self.recipients)?;
        Ok(Sealed {
            header_len: first.1.len(),
            prepared: Mutex::new(Some(first)),
            recipients: self.recipients,
            inner: source,
        })
    }

    /// The fragment the link gets: the key (for `--encrypt`) and the original name.
    pub fn fragment(&self, name: &str) -> String {
        let mut pairs = Vec::new();
        if let Some(k) = &self.key {
            pairs.push(("key", k.expose()));
        }
        pairs.push(("name", name));
        serde_urlencoded::to_string(pairs).expect("strings always encode")
    }
}

/// A writer into a buffer that the stream drains after each write.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Shared {
    /// What was written so far; the buffer starts again with room for a whole piece, so
    /// that it is not grown chunk by chunk.
    fn take(&self) -> Bytes {
        let fresh = Vec::with_capacity((PIECE + CHUNK + TAG) as usize);
        Bytes::from(std::mem::replace(
            &mut *self.0.lock().expect("not poisoned"),
            fresh,
        ))
    }
    fn len(&self) -> u64 {
        self.0.lock().expect("not poisoned").len() as u64
    }
}

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("not poisoned").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

type Prepared = (age::stream::StreamWriter<Shared>, Shared);

/// A writer with the header (and nonce) already in its buffer.
fn prepare(recipients: &[Recipient]) -> Result<Prepared> {
    let enc = age::Encryptor::with_recipients(recipients.iter().map(|r| r.as_ref() as _))
        .map_err(|e| Failure::new(Kind::Usage, format!("cannot encrypt: {e}")))?;
    let buf = Shared::default();
    let writer = enc.wrap_output(buf.clone())?;
    Ok((writer, buf))
}

/// How long the age file of `n` plaintext bytes is, past its header and nonce.
pub fn payload_len(n: u64) -> u64 {
    n + TAG * n.div_ceil(CHUNK).max(1)
}

/// An upload's bytes encrypted as they are read: an age v1 file.
pub struct Sealed {
    inner: Box<dyn Source>,
    recipients: Arc<Vec<Recipient>>,
    /// The header of the first try, made up front so that its length is known.
    prepared: Mutex<Option<Prepared>>,
    header_len: u64,
}

impl Sealed {
    /// How many plaintext bytes go in, where known.
    pub fn plain_size(&self) -> Option<u64> {
        self.inner.size()
    }
}

impl Source for Sealed {
    fn open(&self) -> Result<ByteStream> {
        let taken = self.prepared.lock().expect("not poisoned").take();
        let (writer, buf) = match taken {
            Some(p) => p,
            None => {
                // A retry: a new file key, and a header of the length announced. Its random
                // "grease" stanza varies in length, so a few are drawn until one fits.
                let mut p = prepare(&self.recipients)?;
                for _ in 0..100_000 {
                    if p.1.len() == self.header_len {
                        break;
                    }
                    p = prepare(&self.recipients)?;
                }
                p
            }
        };
        Ok(seal_on_thread(self.inner.open()?, writer, buf))
    }

    fn size(&self) -> Option<u64> {
        self.inner.size().map(|n| self.header_len + payload_len(n))
    }

    fn replayable(&self) -> bool {
        self.inner.replayable()
    }
}

/// How much ciphertext the sealing thread gathers before handing it on: fewer, larger
/// pieces for the upload to send.
const PIECE: u64 = 2 * (CHUNK + TAG);

/// Encrypts on a blocking thread, pipelined with the upload through a bounded channel: the
/// cipher runs on one core while the network is driven from another.
fn seal_on_thread(
    mut inner: ByteStream,
    mut writer: age::stream::StreamWriter<Shared>,
    buf: Shared,
) -> ByteStream {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(PIPE_DEPTH);
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        loop {
            match handle.block_on(inner.next()) {
                Some(Ok(chunk)) => {
                    if let Err(e) = writer.write_all(&chunk) {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                    if buf.len() >= PIECE && tx.blocking_send(Ok(buf.take())).is_err() {
                        // The upload stopped reading: nothing more to do.
                        return;
                    }
                }
                Some(Err(e)) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
                None => {
                    let last = writer.finish().map(|_| buf.take());
                    let _ = tx.blocking_send(last);
                    return;
                }
            }
        }
    });
    Box::pin(tokio_stream_of(rx))
}

/// An upload's bytes as they go up: encrypted or as they are.
pub struct Wrapped {
    source: Box<dyn Source>,
    seal: Option<Seal>,
    plain_size: Option<u64>,
    /// The ciphertext, spooled for a service that needs the length first and sends large
    /// files in pieces (FileShot); kept until the upload is done.
    _spooled: Option<tempfile::NamedTempFile>,
}

/// Wraps `source` for `sealing`. With `spool` (a service that needs the length first and
/// reads large files in pieces) the ciphertext is written to a temporary file first: only
/// ciphertext ever reaches the disk.
pub async fn wrap(
    sealing: Option<&Sealing>,
    source: Box<dyn Source>,
    spool: bool,
) -> Result<Wrapped> {
    let plain_size = source.size();
    let Some(sealing) = sealing else {
        if spool && plain_size.is_none() && source.replayable() {
            // A folder's archive, for a service that needs the length first.
            let tmp = spool_to_file(source.as_ref()).await?;
            return Ok(Wrapped {
                source: Box::new(crate::body::FileSource::new(tmp.path())?),
                seal: None,
                plain_size,
                _spooled: Some(tmp),
            });
        }
        return Ok(Wrapped {
            source,
            seal: None,
            plain_size,
            _spooled: None,
        });
    };
    let seal = sealing.seal();
    let sealed = Seal {
        recipients: seal.recipients.clone(),
        key: None,
    }
    .wrap(source)?;
    if !spool {
        return Ok(Wrapped {
            source: Box::new(sealed),
            seal: Some(seal),
            plain_size,
            _spooled: None,
        });
    }
    let tmp = spool_to_file(&sealed).await?;
    let file = crate::body::FileSource::new(tmp.path())?;
    Ok(Wrapped {
        source: Box::new(file),
        seal: Some(seal),
        plain_size,
        _spooled: Some(tmp),
    })
}

async fn spool_to_file(source: &dyn Source) -> Result<tempfile::NamedTempFile> {
    let failed = |what: &str, e: &dyn std::fmt::Display| {
        Failure::new(Kind::LocalFile, format!("cannot {what}: {e}"))
    };
    let tmp = tempfile::NamedTempFile::new()
        .map_err(|e| failed("create a temporary file for the ciphertext", &e))?;
    let mut out = std::io::BufWriter::new(tmp.reopen()?);
    let mut stream = source.open()?;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| failed("read the upload", &e))?;
        out.write_all(&chunk)
            .map_err(|e| failed("write the temporary ciphertext", &e))?;
    }
    out.flush()?;
    Ok(tmp)
}

impl Wrapped {
    pub fn source(&self) -> &dyn Source {
        self.source.as_ref()
    }

    /// The name the service stores: neutral when encrypted.
    pub fn stored_name<'a>(&self, name: &'a str) -> &'a str {
        if self.seal.is_some() {
            STORED_NAME
        } else {
            name
        }
    }

    /// Puts back in the record what the host must not see: the link gets its fragment (the
    /// key and the original name), the name and size are the plaintext's.
    pub fn finish(&self, record: &mut crate::record::FileRecord, name: &str) {
        let Some(seal) = &self.seal else { return };
        record.link = format!("{}#{}", record.link, seal.fragment(name));
        record.name = Some(name.to_string());
        record.size = self.plain_size;
    }
}

// ---------------------------------------------------------------------------------------
// Links

/// What a link's fragment carries.
#[derive(Default)]
pub struct Fragment {
    pub key: Option<Secret>,
    pub name: Option<String>,
}

/// Splits the fragment off a link: the part before `#` is all that is ever sent or shown.
pub fn split_target(target: &str) -> Result<(String, Fragment)> {
    let Some((link, frag)) = target.split_once('#') else {
        return Ok((target.to_string(), Fragment::default()));
    };
    let mut out = Fragment::default();
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(frag).unwrap_or_default();
    for (k, v) in pairs {
        match k.as_str() {
            "key" => out.key = Some(Secret::new(v)),
            "name" => out.name = Some(v),
            _ => {}
        }
    }
    Ok((link.to_string(), out))
}

// ---------------------------------------------------------------------------------------
// Decryption

/// The identities a download may be decrypted with: the link's key, `--identity`.
#[derive(Default)]
pub struct Keys {
    identities: Vec<Identity>,
    /// The link carried a key: its file must be an age file.
    from_link: bool,
}

impl Keys {
    pub fn new(fragment: &Fragment, identity_file: Option<&Path>) -> Result<Keys> {
        let mut keys = Keys::default();
        if let Some(k) = &fragment.key {
            let id = age::x25519::Identity::from_str(k.expose()).map_err(|_| {
                Failure::new(
                    Kind::Usage,
                    "the key in the link (#key=…) is not an age secret key",
                )
                .hint("copy the whole link the upload printed")
            })?;
            keys.identities.push(Box::new(id));
            keys.from_link = true;
        }
        if let Some(path) = identity_file {
            keys.identities.extend(read_identities(path)?);
        }
        // A fragment with a name and no key comes from `upload --to`: the file needs an
        // identity, and a GET without one would only spend the download.
        if fragment.name.is_some() && keys.is_empty() {
            return Err(no_keys());
        }
        Ok(keys)
    }

    /// A server's name for a file these keys may decrypt, without its `.age`; a refusal,
    /// before the GET spends a one-time link, when it names an age file and there are no
    /// keys.
    pub fn plain_name(&self, name: String) -> Result<String> {
        match name.strip_suffix(".age") {
            Some(_) if self.is_empty() => Err(no_keys()),
            Some(stem) if !stem.is_empty() => Ok(stem.to_string()),
            _ => Ok(name),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.identities.is_empty()
    }
}

/// An age identity file (`AGE-SECRET-KEY-1…` lines) or an unencrypted SSH private key, as
/// `age -i` takes them.
fn read_identities(path: &Path) -> Result<Vec<Identity>> {
    let unreadable = |e: std::io::Error| {
        Failure::new(
            Kind::LocalFile,
            format!("cannot read identity file {}: {e}", path.display()),
        )
    };
    let text = std::fs::read(path).map_err(unreadable)?;
    if text.starts_with(b"-----BEGIN") {
        let id = age::ssh::Identity::from_buffer(&text[..], Some(path.display().to_string()))
            .map_err(unreadable)?;
        return match id {
            age::ssh::Identity::Unencrypted(_) => Ok(vec![Box::new(id)]),
            age::ssh::Identity::Encrypted(_) => Err(Failure::new(
                Kind::Usage,
                format!("{} is a passphrase-protected SSH key", path.display()),
            )
            .hint("decrypt with stock age (age -d -i KEY), which asks for the passphrase")
            .into()),
            age::ssh::Identity::Unsupported(_) => Err(Failure::new(
                Kind::Usage,
                format!("{} is an SSH key age does not support", path.display()),
            )
            .into()),
        };
    }
    let file = age::IdentityFile::from_buffer(&text[..]).map_err(unreadable)?;
    let ids = file
        .into_identities()
        .map_err(|e| Failure::new(Kind::Usage, format!("{}: {e}", path.display())))?;
    if ids.is_empty() {
        return Err(Failure::new(
            Kind::Usage,
            format!("identity file {} holds no identity", path.display()),
        )
        .into());
    }
    Ok(ids)
}

/// How many plaintext pieces may wait between the decrypting thread and the writer.
const PIPE_DEPTH: usize = 4;

/// The download `body`, decrypted when it is an age file and there are keys, as is
/// otherwise. `Ok(None)`-like refusals come early: an age file without keys, or a link
/// with a key whose file is not an age file. The returned flag says whether it decrypts.
pub async fn open(mut body: ByteStream, keys: Keys) -> Result<(ByteStream, bool)> {
    // Enough of the start to tell an age file. A failure meanwhile stays in the stream, to
    // be reported where every broken body is.
    let mut head: Vec<u8> = Vec::new();
    let mut broke = None;
    while head.len() < MAGIC.len() {
        match body.next().await {
            Some(Ok(chunk)) => head.extend_from_slice(&chunk),
            Some(Err(e)) => {
                broke = Some(e);
                break;
            }
            None => break,
        }
    }
    let is_age = head.starts_with(MAGIC);
    let first =
        futures_util::stream::iter([Ok(Bytes::from(head))].into_iter().chain(broke.map(Err)));
    let rest: ByteStream = Box::pin(first.chain(body));
    if !is_age {
        if keys.from_link {
            return Err(Failure::new(
                Kind::Integrity,
                "the link carries a key (#key=…), but the file is not an age-encrypted file; nothing was saved",
            )
            .hint("the file may have been replaced; ask the sender for a new link")
            .into());
        }
        return Ok((rest, false));
    }
    if keys.is_empty() {
        return Err(no_keys());
    }
    Ok((decrypt(rest, keys), true))
}

fn no_keys() -> anyhow::Error {
    Failure::new(
        Kind::Usage,
        "the file is encrypted (age), and there is no key to open it; nothing was saved",
    )
    .hint("give the whole link with its #key=… part, or --identity FILE (or FILEIO_IDENTITY) with the key it was encrypted to")
    .into()
}

/// How much plaintext each piece of the stream carries: two of age's chunks, so that the
/// file gets fewer, larger writes.
const DECRYPT_PIECE: usize = 2 * CHUNK as usize;

/// The longest age header taken (its recipient stanzas, about 100 bytes each for X25519
/// and 400 for SSH-RSA): age parses the header again as each line arrives, so its length
/// bounds both memory and time before the first chunk.
const HEADER_MAX: u64 = 64 * 1024;

/// Decrypts as the body is polled, on the task that receives it, with age's async reader;
/// the download writes on a thread of its own meanwhile (`commands::download`).
///
/// Each piece of the body is copied once, into age's chunk buffer, and dropped at once, so
/// the HTTP client reuses its read buffer as for a plain download. Measured side by side
/// (1 GiB from `fileio serve` on loopback, 2 cores): the same wall time and CPU as
/// decrypting on a thread of its own between two bounded channels (~1.1-1.2 s, ~1.5 CPU-s
/// in the client; that design copied the body out of the client's buffer first and handed
/// ~16,000 pieces across), with ~1.2 MiB less peak memory (+1.0 MiB over a plain download
/// instead of +2.2). Writing on this task too saved another 0.3 MiB and some CPU, but left
/// the cipher and the writes on one core: ~40% slower.
fn decrypt(body: ByteStream, keys: Keys) -> ByteStream {
    let broke = Arc::new(AtomicBool::new(false));
    let headed = Arc::new(AtomicBool::new(false));
    let body = header_bounded(body, broke.clone(), headed.clone());
    let start = async move {
        let decryptor = age::Decryptor::new_async_buffered(body.into_async_read())
            .await
            .map_err(|e| refuse(&e, &broke))?;
        headed.store(true, Ordering::SeqCst);
        let ids = keys
            .identities
            .iter()
            .map(|i| i.as_ref() as &dyn age::Identity);
        let plain = decryptor
            .decrypt_async(ids)
            .map_err(|e| refuse(&e, &broke))?;
        Ok::<_, std::io::Error>(plaintext(plain, broke))
    };
    Box::pin(futures_util::stream::once(start).try_flatten())
}

/// The body, refused once [`HEADER_MAX`] bytes went by and the header (with the payload's
/// nonce) had not ended: age never sees more of a header than that. Marks `broke` when the
/// body itself failed.
fn header_bounded(
    mut body: ByteStream,
    broke: Arc<AtomicBool>,
    headed: Arc<AtomicBool>,
) -> impl Stream<Item = std::io::Result<Bytes>> + Send + Unpin {
    let mut seen = 0u64;
    let mut held: Option<Bytes> = None;
    futures_util::stream::poll_fn(move |cx| {
        let mut chunk = match held.take() {
            Some(chunk) => chunk,
            None => match std::task::ready!(body.poll_next_unpin(cx)) {
                Some(Ok(chunk)) => chunk,
                Some(Err(e)) => {
                    broke.store(true, Ordering::SeqCst);
                    return Poll::Ready(Some(Err(e)));
                }
                None => return Poll::Ready(None),
            },
        };
        if headed.load(Ordering::SeqCst) {
            return Poll::Ready(Some(Ok(chunk)));
        }
        let room = HEADER_MAX - seen;
        if room == 0 {
            return Poll::Ready(Some(Err(std::io::Error::other(Refused(format!(
                "its header is longer than {} KiB",
                HEADER_MAX / 1024
            ))))));
        }
        if chunk.len() as u64 > room {
            held = Some(chunk.split_off(room as usize));
        }
        seen += chunk.len() as u64;
        Poll::Ready(Some(Ok(chunk)))
    })
}

/// An error from decryption: a refusal of the bytes, unless the body itself failed (the
/// network), which is no verdict on them.
fn refuse(e: &dyn std::fmt::Display, broke: &AtomicBool) -> std::io::Error {
    if broke.load(Ordering::SeqCst) {
        std::io::Error::other(e.to_string())
    } else {
        std::io::Error::other(Refused(e.to_string()))
    }
}

/// The plaintext of `plain` in pieces of [`DECRYPT_PIECE`], whose buffer goes back to a pool
/// once written. A piece goes out whole, or as far as it got when the body has nothing more
/// for now, so that the writes go on while the network is waited for.
fn plaintext(
    mut plain: impl futures_util::io::AsyncRead + Unpin + Send + 'static,
    broke: Arc<AtomicBool>,
) -> impl Stream<Item = std::io::Result<Bytes>> + Send {
    // Room for all it keeps from the start: a buffer put back on the writing thread then
    // allocates nothing there.
    let pool = Pool(Arc::new(Mutex::new(Vec::with_capacity(POOLED))));
    let mut buf: Vec<u8> = Vec::new();
    let mut filled = 0;
    // An error or the end, to report once the plaintext before it went out.
    let mut ended: Option<Option<std::io::Error>> = None;
    futures_util::stream::poll_fn(move |cx| {
        while ended.is_none() && (buf.is_empty() || filled < buf.len()) {
            if buf.is_empty() {
                buf = pool.take(DECRYPT_PIECE);
                // A pooled buffer keeps its length: only a new one is zeroed, once.
                buf.resize(DECRYPT_PIECE, 0);
            }
            match std::pin::Pin::new(&mut plain).poll_read(cx, &mut buf[filled..]) {
                Poll::Ready(Ok(0)) => ended = Some(None),
                Poll::Ready(Ok(n)) => filled += n,
                Poll::Ready(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => ended = Some(Some(refuse(&e, &broke))),
                Poll::Pending if filled == 0 => return Poll::Pending,
                Poll::Pending => break,
            }
        }
        if filled > 0 {
            let piece = Pooled {
                buf: std::mem::take(&mut buf),
                len: std::mem::take(&mut filled),
                pool: pool.clone(),
            };
            return Poll::Ready(Some(Ok(Bytes::from_owner(piece))));
        }
        match ended.as_mut() {
            Some(e) => Poll::Ready(e.take().map(Err)),
            None => Poll::Pending,
        }
    })
}

/// How many buffers a [`Pool`] keeps.
const POOLED: usize = 3;

/// Buffers given back once used, so that a transfer reuses one or two instead of allocating
/// one a piece.
#[derive(Clone)]
struct Pool(Arc<Mutex<Vec<Vec<u8>>>>);

impl Pool {
    /// A buffer from the pool (as it was left), or a new empty one with room for `len`.
    fn take(&self, len: usize) -> Vec<u8> {
        let pooled = self.0.lock().expect("not poisoned").pop();
        pooled.unwrap_or_else(|| Vec::with_capacity(len))
    }

    /// Keeps `buf` for the next [`Pool::take`], which reads into it whole.
    fn put(&self, buf: Vec<u8>) {
        if buf.capacity() == 0 {
            return;
        }
        let mut pool = self.0.lock().expect("not poisoned");
        // The pieces in flight: one filled here, one waiting for the writing thread and
        // one it writes (see `commands::download`); never more.
        if pool.len() < POOLED {
            pool.push(buf);
        }
    }
}

/// A piece of plaintext whose buffer goes back to its pool when the last `Bytes` of it is
/// dropped.
struct Pooled {
    buf: Vec<u8>,
    len: usize,
    pool: Pool,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        self.pool.put(std::mem::take(&mut self.buf));
    }
}

fn tokio_stream_of(
    mut rx: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
) -> impl Stream<Item = std::io::Result<Bytes>> + Send {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Decryption refused the bytes: tampered, truncated, or not for these keys.
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// The failure to report for an error from [`open`]'s stream, when decryption refused the
/// bytes; `outcome` says what was left ("nothing was saved").
pub fn refusal(e: &std::io::Error, outcome: &str) -> Option<anyhow::Error> {
    refusal_in(e, outcome)
}

/// [`refusal`] for an error that may carry the refusal deep inside: readers on the way (gzip,
/// tar) wrap the I/O errors they pass on, and `io::Error::source` skips the wrapper's own
/// error, so both `get_ref` and `source` are followed.
pub fn refusal_in(e: &(dyn std::error::Error + 'static), outcome: &str) -> Option<anyhow::Error> {
    let mut todo = vec![e];
    let mut why = None;
    while let Some(e) = todo.pop() {
        if let Some(r) = e.downcast_ref::<Refused>() {
            why = Some(r);
            break;
        }
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            todo.push(inner);
        }
        todo.extend(e.source());
    }
    let why = why?;
    Some(
        Failure::new(
            Kind::Integrity,
            format!(
                "the encrypted file did not verify ({}): it was tampered with, cut short or encrypted for another key; {outcome}",
                crate::terminal_text::inert(&why.0)
            ),
        )
        .hint("if the link allowed one download, that download is spent now; ask the sender to upload it again")
        .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::TryStreamExt;

    fn sealed_bytes(n: usize) -> (Vec<u8>, u64) {
        let seal = Sealing::Fresh.seal();
        let tmp = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(tmp.path(), vec![7u8; n]).unwrap();
        let src = crate::body::FileSource::new(tmp.path()).unwrap();
        let sealed = seal.wrap(Box::new(src)).unwrap();
        let size = sealed.size().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut out = Vec::new();
        for _ in 0..2 {
            // The first try and a retry announce and give the same length.
            let bytes: Vec<Bytes> = rt
                .block_on(async { sealed.open().unwrap().try_collect().await })
                .unwrap();
            out = bytes.concat();
            assert_eq!(out.len() as u64, size, "{n} bytes");
        }
        (out, size)
    }

    #[test]
    fn the_announced_length_is_the_age_file_length() {
        for n in [0, 1, 65535, 65536, 65537, 3 * 65536, 200_000] {
            let (out, _) = sealed_bytes(n);
            assert!(out.starts_with(MAGIC));
        }
    }

    #[test]
    fn fragments_carry_key_and_name_and_are_split_off() {
        let seal = Sealing::Fresh.seal();
        let f = seal.fragment("a b&c.txt");
        let (link, frag) = split_target(&format!("https://x/abc#{f}")).unwrap();
        assert_eq!(link, "https://x/abc");
        assert_eq!(frag.name.as_deref(), Some("a b&c.txt"));
        assert!(frag.key.unwrap().expose().starts_with("AGE-SECRET-KEY-1"));
    }
}
