//! Typed failures at the edges of the program, and the exit codes they map to.
//!
//! Inside, code uses `anyhow` with context; wherever a failure has a meaning a script may act
//! on (not found, too large, rate limited…), it is raised as a [`Failure`] so that
//! [`report`] can find it in the chain and pick the documented exit code.

use std::fmt;

use crate::terminal_text::inert;

/// What kind of failure ended the run; each kind has its own documented exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Anything without a more precise kind (exit 1).
    Other,
    /// A bad flag or value, or an option the service does not support (exit 2).
    Usage,
    /// Missing or refused credentials (exit 3).
    Auth,
    /// Not found, expired or already downloaded (exit 4).
    NotFound,
    /// Too large or over quota (exit 5).
    TooLarge,
    /// Rate limited, still after retries (exit 6).
    RateLimited,
    /// Connect, DNS, TLS, timeout or a dropped connection (exit 7).
    Network,
    /// 5xx, HTML instead of the API, malformed JSON (exit 8).
    BadAnswer,
    /// A local file problem: input missing or unreadable, output exists, disk full (exit 9).
    LocalFile,
    /// An encrypted download that did not verify: tampered, truncated or for another key
    /// (exit 10).
    Integrity,
    /// Interrupted by Ctrl-C (exit 130).
    Interrupted,
}

impl Kind {
    /// The exit code documented for this kind.
    pub fn exit_code(self) -> u8 {
        match self {
            Kind::Other => 1,
            Kind::Usage => 2,
            Kind::Auth => 3,
            Kind::NotFound => 4,
            Kind::TooLarge => 5,
            Kind::RateLimited => 6,
            Kind::Network => 7,
            Kind::BadAnswer => 8,
            Kind::LocalFile => 9,
            Kind::Integrity => 10,
            Kind::Interrupted => 130,
        }
    }
}

/// The table of exit codes, as documented in `--help`, the man page and the README.
pub const EXIT_CODES: &[(u8, &str)] = &[
    (0, "success"),
    (1, "other failure"),
    (
        2,
        "usage: a bad flag or value, or an option the service does not support",
    ),
    (3, "authentication or permission"),
    (4, "not found, expired or already downloaded"),
    (5, "too large or over quota"),
    (6, "rate limited, still after retries"),
    (
        7,
        "network: connect, DNS, TLS, timeout or a dropped connection",
    ),
    (
        8,
        "unexpected answer: a 5xx, HTML instead of the API, malformed JSON",
    ),
    (
        9,
        "local file problem: input missing or unreadable, output exists, disk full",
    ),
    (
        10,
        "integrity: an encrypted download or an extracted archive was tampered with, cut short or for another key, or the file behind a link changed while its download resumed",
    ),
    (130, "interrupted"),
];

/// A failure with a meaning: a one-sentence message, hints for the user, and a kind; and,
/// where it came from an answer, the HTTP status and the service, so that whoever handles it
/// decides from those facts rather than from the words of the message.
#[derive(Debug)]
pub struct Failure {
    pub kind: Kind,
    pub message: String,
    pub hints: Vec<String>,
    /// The HTTP status of the answer this failure reports, if it reports one.
    pub status: Option<u16>,
    /// The service (its `--service` name) that answered, where known.
    pub service: Option<&'static str>,
}

impl Failure {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Failure {
            kind,
            message: message.into(),
            hints: Vec::new(),
            status: None,
            service: None,
        }
    }

    /// Adds a hint line, printed after the error (after the hints it already has).
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    /// Records the HTTP status of the answer this failure reports.
    pub fn status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }
}

/// `err` with `hint` added: to its [`Failure`] when it is one (keeping its kind, status and
/// hints); otherwise a new failure of the kind found in its chain (or `kind`), with the whole
/// chain as its message and the hints of any failure in it kept.
pub fn add_hint(err: anyhow::Error, kind: Kind, hint: impl Into<String>) -> anyhow::Error {
    // anyhow downcasts through context too: only a failure with nothing around it is
    // changed in place, so that no context is lost.
    if err.chain().count() == 1 && err.is::<Failure>() {
        return err
            .downcast::<Failure>()
            .expect("checked")
            .hint(hint)
            .into();
    }
    let inner = failure_of(&err);
    let mut f = Failure::new(inner.map_or(kind, |f| f.kind), format!("{err:#}"));
    if let Some(inner) = inner {
        f.hints = inner.hints.clone();
        f.status = inner.status;
        f.service = inner.service;
    }
    f.hint(hint).into()
}

/// `err` with its failure (if it is one) marked as coming from `service`.
pub fn from_service(mut err: anyhow::Error, service: &'static str) -> anyhow::Error {
    if let Some(f) = err.downcast_mut::<Failure>() {
        f.service.get_or_insert(service);
    }
    err
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// Shorthand for `Err(Failure::new(kind, message).into())`.
pub fn fail<T>(kind: Kind, message: impl Into<String>) -> anyhow::Result<T> {
    Err(Failure::new(kind, message).into())
}

/// The first [`Failure`] in an error's chain, if any.
pub fn failure_of(err: &anyhow::Error) -> Option<&Failure> {
    err.chain().find_map(|e| e.downcast_ref::<Failure>())
}

/// The kind of an error: its [`Failure`]'s, or what an I/O error in the chain says.
pub fn kind_of(err: &anyhow::Error) -> Kind {
    if let Some(f) = failure_of(err) {
        return f.kind;
    }
    Kind::Other
}

/// Prints an error the way users see it and returns its exit code.
///
/// One line, `fileio: error: <message with context>`, then a `hint:` line per hint. A broken
/// pipe on stdout (`fileio list | head`) is not an error a user wants to read: exit 0 quietly.
pub fn report(err: &anyhow::Error) -> u8 {
    if is_broken_pipe(err) {
        return 0;
    }
    // Messages carry what servers said: made inert like every other printed server text.
    eprintln!("fileio: error: {}", inert(&format!("{err:#}")));
    if let Some(f) = failure_of(err) {
        for hint in &f.hints {
            eprintln!("hint: {}", inert(hint));
        }
    }
    kind_of(err).exit_code()
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_a_hint_keeps_the_ones_it_had() {
        let f: anyhow::Error = Failure::new(Kind::Auth, "refused (403 Forbidden)")
            .status(403)
            .hint("first")
            .into();
        let f = add_hint(f, Kind::Other, "second");
        let got = failure_of(&f).unwrap();
        assert_eq!(got.hints, ["first", "second"]);
        assert_eq!((got.kind, got.status), (Kind::Auth, Some(403)));
        // A failure under context is re-wrapped with the whole chain, its facts and hints kept.
        let wrapped = anyhow::Error::from(
            Failure::new(Kind::RateLimited, "slow down")
                .status(429)
                .hint("wait"),
        )
        .context("chunk 2 of 3");
        let f = add_hint(wrapped, Kind::Other, "run it again");
        let got = failure_of(&f).unwrap();
        assert_eq!(got.message, "chunk 2 of 3: slow down");
        assert_eq!(got.hints, ["wait", "run it again"]);
        assert_eq!((got.kind, got.status), (Kind::RateLimited, Some(429)));
        let plain = add_hint(anyhow::anyhow!("odd"), Kind::BadAnswer, "h");
        assert_eq!(failure_of(&plain).unwrap().kind, Kind::BadAnswer);
    }
}
