//! The sink interface: what a sink implements ([`Sink`]: how a page becomes HTTP requests) and
//! what every destination shares (delivery settings, the page handed over for delivery). Below
//! delivery and below each sink, so that neither imports the other back.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::page::StoredPage;
use crate::secret::Secret;
use crate::storage::OutboxEvent;

/// How a page reaches one kind of destination.
pub trait Sink: Send + Sync + 'static {
    /// Its name in logs, metrics and the dead-letter file: `pagerduty`, `opsgenie`.
    fn name(&self) -> &'static str;

    /// The requests that deliver `page`, in order: each is sent once the one before it was
    /// accepted. `key` is the destination's secret; `None` renders them as the dead-letter file
    /// shows them, with the destination's name where the secret would be.
    fn requests(&self, page: &StoredPage, key: Option<&Secret>) -> Result<Vec<Request>, String>;
}

/// One HTTP request of a delivery. No `Debug`: a PagerDuty body holds its routing key.
pub struct Request {
    pub method: reqwest::Method,
    pub url: String,
    /// The `Authorization` header, for sinks whose key goes there.
    pub authorization: Option<Secret>,
    /// JSON.
    pub body: Vec<u8>,
}

/// A sink's delivery settings, the same keys for every sink (`<sink>.timeout`, `.retry`,
/// `.rate_limit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryConfig {
    pub timeout: Duration,
    pub retry: RetryPolicy,
    pub rate_limit: RateLimit,
    /// Pages a lane keeps in memory at most; those behind them wait in the outbox.
    pub memory_window: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Attempts in all, the first one included; `None`: until `max_age`.
    pub max_attempts: Option<u32>,
    /// A page still undelivered this long after it was decided is dead-lettered.
    pub max_age: Duration,
}

/// Requests per destination: a token bucket of `burst` tokens refilled at `events_per_minute`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub events_per_minute: u32,
    pub burst: u32,
}

impl RetryPolicy {
    /// Exponential backoff with "equal jitter": half the step fixed, half random, so
    /// retries from many senders spread out but never come back too soon.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let step = self
            .initial_backoff
            .saturating_mul(1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX))
            .min(self.max_backoff);
        let half = step / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

/// A named place pages go: its sink, its key (`None` when the key's source, an environment
/// variable, is unset: its pages go to the pages file) and its sink's delivery settings.
pub struct Destination {
    pub sink: Arc<dyn Sink>,
    pub key: Option<Secret>,
    pub delivery: DeliveryConfig,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PagesOutput {
    Stdout,
    File(PathBuf),
}

/// A page for delivery, with its outbox sequence number (`None` if the store failed).
#[derive(Debug)]
pub struct Outgoing {
    pub sequence: Option<u64>,
    pub event: OutboxEvent,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let policy = RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            max_attempts: None,
            max_age: Duration::from_secs(3600),
        };
        for attempt in 1..=8 {
            let step = Duration::from_millis(100 * (1 << (attempt - 1))).min(Duration::from_secs(1));
            let wait = policy.backoff(attempt);
            assert!(
                wait >= step / 2 && wait <= step,
                "attempt {attempt}: {wait:?} outside [{:?}, {step:?}]",
                step / 2
            );
        }
        assert!(policy.backoff(40) <= Duration::from_secs(1));
    }
}
