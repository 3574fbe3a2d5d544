//! Per-client rate limiting: a fixed window per client address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use crate::server::config::RateLimit;
use crate::server::errors::ApiError;

pub struct Limiter {
    limit: RateLimit,
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl Limiter {
    pub fn new(limit: RateLimit) -> Limiter {
        Limiter {
            limit,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a request from `ip`; 429 with the seconds to wait once the window is full.
    pub fn check(&self, ip: IpAddr) -> Result<(), ApiError> {
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let entry = windows.entry(ip).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.limit.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.limit.requests {
            let left = self
                .limit
                .window
                .saturating_sub(now.duration_since(entry.0));
            let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            let mut err = ApiError::new(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "Too many requests: this server allows {} per client; retry in {secs} s.",
                    self.limit
                ),
            );
            err.retry_after = Some(secs.max(1));
            return Err(err);
        }
        entry.1 += 1;
        Ok(())
    }

    /// Forgets windows that are over, so the table does not grow without bound.
    pub fn prune(&self) {
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        windows.retain(|_, (start, _)| now.duration_since(*start) < self.limit.window);
    }
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
}
