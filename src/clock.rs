//! The current time, as the client judges expiry by it: the system's clock, or, for tests,
//! the time in the hidden FILEIO_TEST_NOW (RFC 3339), so that a test of what has expired
//! need not wait for it to expire.

use chrono::{DateTime, Utc};

/// Now, or FILEIO_TEST_NOW when a test sets it.
pub fn now() -> DateTime<Utc> {
    std::env::var("FILEIO_TEST_NOW")
        .ok()
        .and_then(|t| DateTime::parse_from_rfc3339(t.trim()).ok())
        .map_or_else(Utc::now, |t| t.with_timezone(&Utc))
}
