//! Expiry values: periods like `30m` or `2w`, and ISO 8601 dates.
//!
//! One parser serves the client (validating `--expires` before a byte is sent) and the server
//! (which also takes the classic bare integer, meaning days). `m` is always minutes and `M`
//! months, as in file.io's v2 API; the classic API's `m` meaning months is not honoured,
//! because guessing would make `30m` mean two different things.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Days, Duration, Months, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// The forms `--expires` accepts, for error messages.
pub const ACCEPTED: &str = "a period such as 30m, 12h, 7d, 2w, 6M or 1y \
(s seconds, m minutes, h hours, d days, w weeks, M months, Q quarters, y years) \
or an ISO 8601 date such as 2026-12-31, 2026-12-31T23:59:59Z or 20261231T235959";

/// When a file expires: after a period from now, or at a point in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expires {
    Period { count: u32, unit: Unit },
    At(DateTime<Utc>),
}

/// The unit of a period, as its letter in file.io's `^[1-9][0-9]*[yQMwdhms]$`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Seconds,
    Minutes,
    Hours,
    Days,
    Weeks,
    Months,
    Quarters,
    Years,
}

impl Unit {
    fn from_letter(c: char) -> Option<Unit> {
        Some(match c {
            's' => Unit::Seconds,
            'm' => Unit::Minutes,
            'h' => Unit::Hours,
            'd' => Unit::Days,
            'w' => Unit::Weeks,
            'M' => Unit::Months,
            'Q' => Unit::Quarters,
            'y' => Unit::Years,
            _ => return None,
        })
    }

    pub fn letter(self) -> char {
        match self {
            Unit::Seconds => 's',
            Unit::Minutes => 'm',
            Unit::Hours => 'h',
            Unit::Days => 'd',
            Unit::Weeks => 'w',
            Unit::Months => 'M',
            Unit::Quarters => 'Q',
            Unit::Years => 'y',
        }
    }
}

/// Why a value is not an expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidExpires(pub String);

impl fmt::Display for InvalidExpires {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid expiry '{}': use {ACCEPTED}", self.0)
    }
}

impl std::error::Error for InvalidExpires {}

impl FromStr for Expires {
    type Err = InvalidExpires;

    /// Parses a period or an ISO 8601 date; a bare integer is refused (see [`Expires::parse_classic`]).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        parse_period(s)
            .or_else(|| parse_iso(s).map(Expires::At))
            .ok_or_else(|| InvalidExpires(s.to_string()))
    }
}

impl Expires {
    /// Parses what the server accepts: everything [`FromStr`] does, plus a bare integer of days.
    pub fn parse_classic(s: &str) -> Result<Self, InvalidExpires> {
        let t = s.trim();
        if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) && !t.starts_with('0') {
            if let Ok(count) = t.parse::<u32>() {
                return Ok(Expires::Period {
                    count,
                    unit: Unit::Days,
                });
            }
        }
        t.parse()
    }

    /// The moment this expiry falls on, counted from `now`; `None` if it is beyond the calendar.
    pub fn resolve(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match *self {
            Expires::At(t) => Some(t),
            Expires::Period { count, unit } => {
                let n = i64::from(count);
                match unit {
                    Unit::Seconds => now.checked_add_signed(Duration::try_seconds(n)?),
                    Unit::Minutes => now.checked_add_signed(Duration::try_minutes(n)?),
                    Unit::Hours => now.checked_add_signed(Duration::try_hours(n)?),
                    Unit::Days => now.checked_add_days(Days::new(count.into())),
                    Unit::Weeks => now.checked_add_days(Days::new(u64::from(count) * 7)),
                    Unit::Months => now.checked_add_months(Months::new(count)),
                    Unit::Quarters => now.checked_add_months(Months::new(count.checked_mul(3)?)),
                    Unit::Years => now.checked_add_months(Months::new(count.checked_mul(12)?)),
                }
            }
        }
    }

    /// The value to send a file.io-compatible server: the period as is (`m` is minutes in the
    /// v2 API), a date in RFC 3339 extended form so that it cannot be read as a period.
    pub fn to_fileio_param(&self) -> String {
        match self {
            Expires::Period { count, unit } => format!("{count}{}", unit.letter()),
            Expires::At(t) => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        }
    }
}

impl fmt::Display for Expires {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_fileio_param())
    }
}

fn parse_period(s: &str) -> Option<Expires> {
    let unit = Unit::from_letter(s.chars().last()?)?;
    let digits = &s[..s.len() - 1];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
        return None;
    }
    let count = digits.parse().ok()?;
    Some(Expires::Period { count, unit })
}

/// ISO 8601 in its basic and extended forms, with or without a zone (UTC when none), or a
/// bare date (midnight UTC).
fn parse_iso(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    const ZONED: &[&str] = &[
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M%z",
        "%Y%m%dT%H%M%S%z",
    ];
    for fmt in ZONED {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Some(t.with_timezone(&Utc));
        }
    }
    let naive = s.strip_suffix('Z').unwrap_or(s);
    const NAIVE: &[&str] = &[
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y%m%dT%H%M%S",
        "%Y%m%dT%H%M",
        "%Y-%m-%d %H:%M:%S",
    ];
    for fmt in NAIVE {
        if let Ok(t) = NaiveDateTime::parse_from_str(naive, fmt) {
            return Some(Utc.from_utc_datetime(&t));
        }
    }
    for fmt in ["%Y-%m-%d", "%Y%m%d"] {
        if naive.len() >= 8 {
            if let Ok(d) = NaiveDate::parse_from_str(naive, fmt) {
                return Some(Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0)?));
            }
        }
    }
    None
}

/// Refuses, before anything is sent, an expiry that is not after `now` (the clock is a
/// parameter so that tests need not wait for time to pass).
pub fn check_future(expires: Option<&Expires>, now: DateTime<Utc>) -> anyhow::Result<()> {
    if let Some(e) = expires {
        match e.resolve(now) {
            Some(t) if t > now => {}
            _ => {
                return Err(crate::error::Failure::new(
                    crate::error::Kind::Usage,
                    format!("--expires {e} is not in the future"),
                )
                .hint("give a period such as 7d, or a date still to come")
                .into());
            }
        }
    }
    Ok(())
}

/// A short English rendering of a duration ("14 days", "1 hour"), as file.io's classic
/// `expiry` field carried it.
pub fn describe(d: Duration) -> String {
    let secs = d.num_seconds().max(0);
    let (n, unit) = if secs >= 86_400 && secs % 86_400 == 0 || secs >= 2 * 86_400 {
        ((secs + 43_200) / 86_400, "day")
    } else if secs >= 3_600 {
        ((secs + 1_800) / 3_600, "hour")
    } else if secs >= 60 {
        ((secs + 30) / 60, "minute")
    } else {
        (secs, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 31, 12, 0, 0).unwrap()
    }

    #[test]
    fn an_expiry_must_be_after_the_clock_it_is_checked_by() {
        let date = |s: &str| Some(s.parse::<Expires>().unwrap());
        assert!(check_future(date("30m").as_ref(), now()).is_ok());
        assert!(check_future(date("2026-02-01").as_ref(), now()).is_ok());
        // The same date, a day later by the clock given: already past, refused.
        let later = now() + Duration::days(2);
        let e = check_future(date("2026-02-01").as_ref(), later).unwrap_err();
        assert!(e.to_string().contains("is not in the future"), "{e}");
        assert!(check_future(None, later).is_ok());
    }

    #[test]
    fn periods_use_file_io_letters() {
        let at = |s: &str| s.parse::<Expires>().unwrap().resolve(now()).unwrap();
        assert_eq!(at("30m"), now() + Duration::minutes(30));
        assert_eq!(at("45s"), now() + Duration::seconds(45));
        assert_eq!(at("12h"), now() + Duration::hours(12));
        assert_eq!(at("7d"), now() + Duration::days(7));
        assert_eq!(at("2w"), now() + Duration::days(14));
        assert_eq!(
            at("1M"),
            Utc.with_ymd_and_hms(2026, 2, 28, 12, 0, 0).unwrap()
        );
        assert_eq!(
            at("1Q"),
            Utc.with_ymd_and_hms(2026, 4, 30, 12, 0, 0).unwrap()
        );
        assert_eq!(
            at("1y"),
            Utc.with_ymd_and_hms(2027, 1, 31, 12, 0, 0).unwrap()
        );
    }

    #[test]
    fn iso_dates_in_every_form() {
        let want = Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 59).unwrap();
        for s in [
            "2026-12-31T23:59:59Z",
            "2026-12-31T23:59:59",
            "2026-12-31T23:59:59.000Z",
            "2027-01-01T01:59:59+02:00",
            "20261231T235959",
            "20261231T235959Z",
            "20270101T015959+0200",
        ] {
            assert_eq!(s.parse::<Expires>(), Ok(Expires::At(want)), "{s}");
        }
        let midnight = Utc.with_ymd_and_hms(2026, 12, 31, 0, 0, 0).unwrap();
        assert_eq!("2026-12-31".parse::<Expires>(), Ok(Expires::At(midnight)));
        assert_eq!("20261231".parse::<Expires>(), Ok(Expires::At(midnight)));
    }

    #[test]
    fn refuses_everything_else() {
        for s in [
            "",
            "0d",
            "07d",
            "5",
            "1.5h",
            "10 days",
            "tomorrow",
            "5x",
            "-1d",
            "d",
            "2026-13-01",
        ] {
            let err = s.parse::<Expires>().unwrap_err();
            assert!(err.to_string().contains("30m, 12h"), "{s}: {err}");
        }
    }

    #[test]
    fn classic_bare_integers_are_days() {
        assert_eq!(
            Expires::parse_classic("3"),
            Ok(Expires::Period {
                count: 3,
                unit: Unit::Days
            })
        );
        assert!(Expires::parse_classic("0").is_err());
        assert_eq!(
            Expires::parse_classic("1w"),
            Ok(Expires::Period {
                count: 1,
                unit: Unit::Weeks
            })
        );
    }

    #[test]
    fn dates_are_sent_unambiguously() {
        let e: Expires = "20261231T235959".parse().unwrap();
        assert_eq!(e.to_fileio_param(), "2026-12-31T23:59:59Z");
        assert_eq!("30m".parse::<Expires>().unwrap().to_fileio_param(), "30m");
    }

    #[test]
    fn describes_durations() {
        assert_eq!(describe(Duration::days(14)), "14 days");
        assert_eq!(describe(Duration::hours(1)), "1 hour");
        assert_eq!(describe(Duration::minutes(30)), "30 minutes");
        assert_eq!(describe(Duration::seconds(59)), "59 seconds");
    }
}
