//! Per-client rate limiting: a fixed window per client address.
//!
//! The browser pages' static assets (`/_/…`: script, style, icon, QR codes) are counted
//! apart, against a bound [`ASSET_FACTOR`] times as large (at least [`MIN_ASSETS`]): loading
//! the upload page fetches several, and must not eat the uploads `--rate-limit` allows, yet
//! a client hammering them is still stopped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use crate::server::config::RateLimit;
use crate::server::errors::ApiError;

/// Asset requests allowed per window, as a multiple of `--rate-limit`'s requests.
pub const ASSET_FACTOR: u32 = 10;

/// The fewest asset requests allowed per window (a page load takes about five).
pub const MIN_ASSETS: u32 = 100;

pub struct Limiter {
    limit: RateLimit,
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
    assets: RateLimit,
    asset_windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl Limiter {
    pub fn new(limit: RateLimit) -> Limiter {
        Limiter {
            assets: RateLimit {
                requests: limit.requests.saturating_mul(ASSET_FACTOR).max(MIN_ASSETS),
                window: limit.window,
            },
            limit,
            windows: Mutex::new(HashMap::new()),
            asset_windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a request from `ip`; 429 with the seconds to wait once the window is full.
    pub fn check(&self, ip: IpAddr) -> Result<(), ApiError> {
        count(&self.windows, self.limit, ip)
    }

    /// Counts a request for a page's static asset from `ip`, apart from the others.
    pub fn check_asset(&self, ip: IpAddr) -> Result<(), ApiError> {
        count(&self.asset_windows, self.assets, ip)
    }

    /// Forgets windows that are over, so the tables do not grow without bound.
    pub fn prune(&self) {
        let now = Instant::now();
        for (table, limit) in [
            (&self.windows, self.limit),
            (&self.asset_windows, self.assets),
        ] {
            let mut windows = table.lock().unwrap_or_else(|e| e.into_inner());
            windows.retain(|_, (start, _)| now.duration_since(*start) < limit.window);
        }
    }
}

fn count(
    table: &Mutex<HashMap<IpAddr, (Instant, u32)>>,
    limit: RateLimit,
    ip: IpAddr,
) -> Result<(), ApiError> {
    let now = Instant::now();
    let mut windows = table.lock().unwrap_or_else(|e| e.into_inner());
    let entry = windows.entry(ip).or_insert((now, 0));
    if now.duration_since(entry.0) >= limit.window {
        *entry = (now, 0);
    }
    if entry.1 >= limit.requests {
        let left = limit.window.saturating_sub(now.duration_since(entry.0));
        let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        let mut err = ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            format!("Too many requests: this server allows {limit} per client; retry in {secs} s."),
        );
        err.retry_after = Some(secs.max(1));
        return Err(err);
    }
    entry.1 += 1;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_past_the_limit_with_retry_after() {
        let l = Limiter::new("2/min".parse().unwrap());
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "::1".parse().unwrap();
        assert!(l.check(a).is_ok());
        assert!(l.check(a).is_ok());
        let err = l.check(a).unwrap_err();
        assert_eq!(err.status.as_u16(), 429);
        assert!((59..=60).contains(&err.retry_after.unwrap()));
        assert!(l.check(b).is_ok());
    }

    #[test]
    fn assets_are_counted_apart_against_a_larger_bound() {
        let l = Limiter::new("2/min".parse().unwrap());
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..MIN_ASSETS {
            assert!(l.check_asset(a).is_ok());
        }
        assert_eq!(l.check_asset(a).unwrap_err().status.as_u16(), 429);
        assert!(l.check(a).is_ok());
        assert!(l.check(a).is_ok());
        assert!(l.check(a).is_err());
        let big = Limiter::new("50/min".parse().unwrap());
        for _ in 0..500 {
            assert!(big.check_asset(a).is_ok());
        }
        assert!(big.check_asset(a).is_err());
    }
}
