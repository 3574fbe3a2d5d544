//! Stall detection: a transfer that makes no progress for the timeout is given up, even where
//! no socket read is pending (a server that stops reading an upload).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Failure, Kind};

/// Shared "last moment something moved", updated from the body streams.
#[derive(Clone)]
pub struct Activity {
    start: Instant,
    last_us: Arc<AtomicU64>,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            start: Instant::now(),
            last_us: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl Activity {
    pub fn touch(&self) {
        self.last_us
            .store(self.start.elapsed().as_micros() as u64, Ordering::Relaxed);
    }

    fn idle(&self) -> Duration {
        let last = Duration::from_micros(self.last_us.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }

    /// Runs `fut`, failing with a network error once nothing has moved for `timeout`.
    pub async fn guard<F: Future>(
        &self,
        what: &str,
        timeout: Duration,
        fut: F,
    ) -> anyhow::Result<F::Output> {
        self.touch();
        let watchdog = async {
            loop {
                let idle = self.idle();
                if idle >= timeout {
                    return;
                }
                tokio::time::sleep(timeout - idle).await;
            }
        };
        // Biased, and idle time kept in microseconds: a request that ends in its own read
        // timeout within the same timer tick reports that (reqwest's timeout), never the watchdog.
        tokio::select! {
            biased;
            out = fut => Ok(out),
            () = watchdog => Err(Failure::new(
                Kind::Network,
                format!("{what} failed: no progress for {}s", timeout.as_secs()),
            )
            .hint("raise --timeout if the server is just slow")
            .into()),
        }
    }
}
